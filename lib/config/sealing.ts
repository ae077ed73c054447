import * as crypto from 'crypto';

// The sealed-secrets wire format, as kubeseal writes it (github.com/bitnami-labs/sealed-secrets v0.40.0,
// pkg/crypto/crypto.go HybridEncrypt, and EncryptionLabel in pkg/apis/sealedsecrets/v1alpha1/
// sealedsecret_expansion.go). test/secrets.test.ts checks it against the real `kubeseal --recovery-unseal`.

/** kubeseal's sessionKeyBytes: one fresh AES-256 key per value. */
const SESSION_KEY_BYTES = 32;
/** AES-GCM's standard nonce and tag sizes (Go's cipher.NewGCM). */
const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;
/** Smallest RSA key we seal with (kubeseal's controller makes 4096-bit keys). */
const MIN_RSA_BITS = 2048;
/** Node's key types (KeyObject.asymmetricKeyType) as a sentence names them, with their article. */
const KEY_TYPES: Record<string, string> = {
  'ec': 'an EC', 'ed25519': 'an Ed25519', 'ed448': 'an Ed448', 'x25519': 'an X25519', 'x448': 'an X448', 'dsa': 'a DSA', 'dh': 'a DH', 'rsa-pss': 'an RSA-PSS',
};

/**
 * What a sealed value is bound to. Only `strict` is used here: the value unseals only into a Secret of the
 * namespace and name it was sealed for (sealed-secrets' default).
 */
export type SealingScope = 'strict';

/** The RSA-OAEP label of strict scope, `<namespace>/<name>` (EncryptionLabel): it binds the value to that Secret. */
export function strictLabel(namespace: string, name: string): Buffer {
  return Buffer.from(`${namespace}/${name}`, 'utf-8');
}

/**
 * kubeseal's HybridEncrypt: a random 32-byte session key encrypts the value with AES-256-GCM under an all-zero
 * 12-byte nonce (safe: the key is used once), and RSA-OAEP (SHA-256, with the scope label) encrypts the session key.
 * Output: uint16 big-endian length of the RSA ciphertext || RSA ciphertext || AES-GCM ciphertext || 16-byte GCM tag
 * (Go's AEAD.Seal appends the tag).
 */
export function hybridEncrypt(publicKey: crypto.KeyObject, plaintext: Uint8Array, label: Uint8Array): Buffer {
  const sessionKey = crypto.randomBytes(SESSION_KEY_BYTES);
  const rsaCiphertext = crypto.publicEncrypt(
    { key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
    sessionKey,
  );
  const cipher = crypto.createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(GCM_NONCE_BYTES), { authTagLength: GCM_TAG_BYTES });
  const aesCiphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(rsaCiphertext.length);
  return Buffer.concat([length, rsaCiphertext, aesCiphertext]);
}

/**
 * Whether `value` has the shape of a sealed value (base64 of length || RSA ciphertext || AES-GCM output), so a
 * truncated or hand-edited sealed file fails at synth rather than in the cluster's controller.
 */
export function isSealedValue(value: unknown): boolean {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < 2) return false;
  const rsaLength = bytes.readUInt16BE(0);
  return rsaLength >= MIN_RSA_BITS / 8 && bytes.length >= 2 + rsaLength + GCM_TAG_BYTES;
}

/** The public half of a sealed-secrets controller's key, from its certificate (`kubeseal --fetch-cert`). */
export interface SealingCertificate {
  readonly publicKey: crypto.KeyObject;
  /** SHA-256 fingerprint of the certificate, as `openssl x509 -noout -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
  readonly validTo: Date;
}

/**
 * Parses a sealing certificate the way kubeseal's ParseKey does (pkg/kubeseal/kubeseal.go): the first PEM
 * certificate, which must hold an RSA public key and must not have expired. Returns an error text (what is
 * wrong, for the caller's message) instead of the certificate when it is unusable.
 */
export function parseSealingCertificate(pem: string, now: Date = new Date()): SealingCertificate | string {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    return 'holds a private key; it must hold only the controller\'s public certificate (`kubeseal --fetch-cert`), and the private key must not be in the repository';
  }
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!block) return 'is not a PEM certificate (no "BEGIN CERTIFICATE" block); expected the output of `kubeseal --fetch-cert`';
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(block[0]);
  } catch (e) {
    return `is not a valid X.509 certificate (${(e as Error).message})`;
  }
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'rsa') {
    return `holds ${KEY_TYPES[key.asymmetricKeyType ?? ''] ?? `a ${key.asymmetricKeyType ?? 'non-RSA'}`} public key; sealed-secrets needs an RSA public certificate`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `holds a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required (the controller makes 4096-bit keys)`;
  const validTo = new Date(cert.validTo);
  if (now > validTo) return `expired on ${cert.validTo}; kubeseal refuses expired certificates: fetch the current one with \`kubeseal --fetch-cert\``;
  return { publicKey: key, fingerprint: cert.fingerprint256, validTo };
}
