import { experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import { NODE_USER, loadNodeCertificates, type NodeCertificates } from '@cairn/cluster';

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

/**
 * A process's certificates, reloadable while it serves: gRPC's certificate-provider
 * credentials take every update for new connections, and connections already open keep
 * theirs, so a rotation (SIGHUP) drops no call.
 */
export class ReloadableCertificates {
  private current: NodeCertificates;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(readonly dir: string) {
    this.current = loadNodeCertificates(dir);
  }

  get certificates(): NodeCertificates {
    return this.current;
  }

  /** Reads the directory again; throws (keeping the old certificates) if the new set is bad. */
  reload(): NodeCertificates {
    this.current = loadNodeCertificates(this.dir);
    for (const l of this.caListeners) l({ caCertificate: this.current.ca });
    for (const l of this.identityListeners) l({ certificate: this.current.cert, privateKey: this.current.key });
    return this.current;
  }

  /**
   * gRPC's CertificateProvider: listeners get the current set, then every reload. The first
   * update is delivered on a microtask, not from inside `add*Listener`: grpc-js registers its
   * server's watcher only after adding these listeners, and would miss a synchronous update
   * (the server then drops every connection as "unloaded credentials").
   */
  readonly provider: experimental.CertificateProvider = {
    addCaCertificateListener: (l) => {
      this.caListeners.add(l);
      queueMicrotask(() => this.caListeners.has(l) && l({ caCertificate: this.current.ca }));
    },
    removeCaCertificateListener: (l) => void this.caListeners.delete(l),
    addIdentityCertificateListener: (l) => {
      this.identityListeners.add(l);
      queueMicrotask(() => this.identityListeners.has(l) && l({ certificate: this.current.cert, privateKey: this.current.key }));
    },
    removeIdentityCertificateListener: (l) => void this.identityListeners.delete(l),
  };

  /**
   * Server credentials: TLS only. A client certificate is asked for and verified against the
   * CA but not required, since password clients have none; the authentication layer decides.
   */
  serverCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this.provider, this.provider, false);
  }

  /**
   * Client credentials presenting node.crt (CN=node): what a standby forwards calls with. The
   * leader is accepted when its certificate chains to ca.crt and is a node certificate (CN
   * `node`), whatever address it was dialled at: a coordinator advertised by a pod IP (a
   * Kubernetes Deployment) cannot have that IP in a certificate made before the pod existed.
   */
  channelCredentials(): ChannelCredentials {
    return experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
      checkServerIdentity: (_host, cert) => (cert.subject?.CN === NODE_USER ? undefined : new Error(`the leader's certificate is for ${String(cert.subject?.CN)}, not a node`)),
    });
  }
}
