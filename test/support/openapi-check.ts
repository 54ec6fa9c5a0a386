/**
 * Checks a JSON value against a schema of an OpenAPI 3.0 document: the subset cairn's
 * document uses (type, required, properties, additionalProperties: false, enum, items,
 * nullable, format date-time/uuid, minimum/maximum, $ref into components). Returns the
 * problems found, each with the path of the offending value; empty when it conforms.
 */
type Schema = Record<string, unknown>;

export function schemaProblems(doc: Schema, schema: Schema, value: unknown, path = '$'): string[] {
  if (typeof schema['$ref'] === 'string') return schemaProblems(doc, resolveRef(doc, schema['$ref']), value, path);
  if (value === null) return schema['nullable'] === true ? [] : [`${path}: null, but the schema does not allow null`];
  const problems: string[] = [];
  const type = schema['type'];
  const is = (t: string): boolean => {
    switch (t) {
      case 'object':
        return typeof value === 'object' && !Array.isArray(value);
      case 'array':
        return Array.isArray(value);
      case 'integer':
        return typeof value === 'number' && Number.isInteger(value);
      case 'number':
        return typeof value === 'number';
      default:
        return typeof value === t;
    }
  };
  if (typeof type === 'string' && !is(type)) return [`${path}: expected ${type}, got ${JSON.stringify(value)}`];
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema['enum'])}`);
  if (schema['format'] === 'date-time' && (typeof value !== 'string' || Number.isNaN(Date.parse(value)) || !/^\d{4}-\d{2}-\d{2}T/.test(value))) {
    problems.push(`${path}: ${JSON.stringify(value)} is not a date-time`);
  }
  if (schema['format'] === 'uuid' && (typeof value !== 'string' || !/^[0-9a-f-]{36}$/.test(value))) problems.push(`${path}: ${JSON.stringify(value)} is not a uuid`);
  if (typeof schema['minimum'] === 'number' && typeof value === 'number' && value < schema['minimum']) problems.push(`${path}: ${value} < ${schema['minimum']}`);
  if (typeof schema['maximum'] === 'number' && typeof value === 'number' && value > schema['maximum']) problems.push(`${path}: ${value} > ${schema['maximum']}`);
  if (type === 'array' && Array.isArray(value) && schema['items']) {
    value.forEach((v, i) => problems.push(...schemaProblems(doc, schema['items'] as Schema, v, `${path}[${i}]`)));
  }
  if (type === 'object' && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema['properties'] ?? {}) as Record<string, Schema>;
    for (const r of (schema['required'] ?? []) as string[]) if (!(r in obj)) problems.push(`${path}: missing required field ${r}`);
    for (const [k, v] of Object.entries(obj)) {
      const p = props[k];
      if (p) problems.push(...schemaProblems(doc, p, v, `${path}.${k}`));
      else if (schema['additionalProperties'] === false) problems.push(`${path}: field ${k} is not in the schema`);
    }
  }
  return problems;
}

function resolveRef(doc: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported: ${ref}`);
  let at: unknown = doc;
  for (const part of ref.slice(2).split('/')) at = (at as Record<string, unknown>)[part];
  if (typeof at !== 'object' || at === null) throw new Error(`$ref ${ref} resolves to nothing`);
  return at as Schema;
}

/**
 * The response schema the document gives `method path` (a path template such as
 * `/api/v1/clusters/{cluster_id}/backups`) for `status`.
 */
export function responseSchema(doc: Schema, method: string, template: string, status: number): Schema {
  const paths = doc['paths'] as Record<string, Record<string, Schema>>;
  const op = paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`the document has no ${method} ${template}`);
  const responses = op['responses'] as Record<string, Schema>;
  const r = responses[String(status)];
  if (!r) throw new Error(`the document gives ${method} ${template} no ${status} response (has ${Object.keys(responses).join(', ')})`);
  const content = r['content'] as Record<string, { schema: Schema }> | undefined;
  const schema = content?.['application/json']?.schema;
  if (!schema) throw new Error(`${method} ${template} ${status} has no JSON schema`);
  return schema;
}
