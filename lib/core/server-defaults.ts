/**
 * Fields cdk8s-plus writes with the value the API server stores as "absent" (Go `omitempty` zero values). The
 * server drops them, so a client-side `kubectl apply` finds them missing from the live object and re-sends them on
 * every run ("configured" although nothing changed). Removing them changes nothing in the cluster; a field we set
 * on purpose to a non-default value is never touched.
 */
type Json = Record<string, any>;

function podSpecOf(obj: Json): Json | undefined {
  if (obj.kind === 'Pod') return obj.spec;
  return obj.spec?.template?.spec; // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
}

function dropIf(o: Json | undefined, key: string, zero: unknown): void {
  if (o && o[key] === zero) delete o[key];
}

/** Removes, in place, the omitempty zero values our constructs are known to receive from cdk8s-plus. */
export function omitServerDefaults(obj: Json): Json {
  if (obj.kind === 'Deployment') dropIf(obj.spec, 'minReadySeconds', 0);
  const pod = podSpecOf(obj);
  if (pod) {
    for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) dropIf(pod, key, false);
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      for (const m of c.volumeMounts ?? []) dropIf(m, 'readOnly', false);
      // An empty list is "absent" too (db has no peers, so no args).
      for (const key of ['args', 'command']) if (Array.isArray(c[key]) && c[key].length === 0) delete c[key];
    }
  }
  return obj;
}
