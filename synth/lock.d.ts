// Types of synth/lock.js (plain JavaScript: cdk8s-cli's patched synth command loads it too; see there).

/**
 * Takes the synth lock of the checkout at `root` for this process, or throws "another synth is running ...".
 * Returns the release (also run at exit, SIGINT, SIGTERM, SIGHUP). Under a `cdk8s synth` that holds the lock
 * (SYNTH_LOCK_TOKEN): checks the lock is that CLI's and returns a no-op.
 */
export function acquireSynthLock(root: string, lockFile?: string): () => void;

/** cdk8s-cli's synth command, whole, under the lock (synth/patches/cdk8s-cli+*.patch). */
export function underSynthLock<T>(root: string, synth: () => Promise<T>): Promise<T | undefined>;
