import { ApiObject, JsonPatch } from 'cdk8s';
import { IConstruct } from 'constructs';
import { Quantity } from '../../imports/k8s';
import * as kplus from '../core/kplus';
import { resolveImage } from './image-lock';
import { checkProbe } from './probes';
import { Resources, renderResources } from './quantity';
import { SecurityProfile, isRestricted } from './security';
import { ValidationError } from '../core/errors';
import { platformOf } from '../core/platform-rules';
import * as v from '../core/validation';

/** A port a container listens on. */
export interface ContainerPortSpec {
  /** IANA_SVC_NAME (<= 15 chars); Services and probes refer to it. */
  readonly name: string;
  /** The port number the process binds. */
  readonly number: number;
}

/** A literal environment variable. */
export interface LiteralEnvVar {
  /** A C identifier, unique in the container. */
  readonly name: string;
  readonly value: string;
}

/** An environment variable from the downward API: a field of the pod, read when the container starts. */
export interface FieldRefEnvVar {
  /** A C identifier, unique in the container. */
  readonly name: string;
  /** The pod field, e.g. `kplus.EnvFieldPaths.POD_NAME` (`metadata.name`); labels and annotations need a key and are not offered. */
  readonly fieldRef: kplus.EnvFieldPaths;
}

/** An environment variable: a literal value, or a field of the pod. */
export type EnvVar = LiteralEnvVar | FieldRefEnvVar;

/** A volume mounted into a container. */
export interface MountSpec {
  readonly volume: kplus.Volume;
  readonly path: string;
  /** @default true */
  readonly readOnly?: boolean;
}

/** One container of an app pod, with every cdk8s-plus default replaced by a stated choice. */
export interface AppContainerSpec {
  /** Container name (DNS-1123 label). */
  readonly name: string;
  /** Image pinned to a tag other than `latest`, or a digest. */
  readonly image: string;
  /**
   * Pull policy. `Always` makes a moved tag visible on restart and is what kube-score asks for.
   * @default Always
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * The port the process listens on.
   * @default none: the program serves nothing (no Service may target it)
   */
  readonly port?: ContainerPortSpec;
  /** @default the image's ENTRYPOINT */
  readonly command?: readonly string[];
  /** @default the image's CMD */
  readonly args?: readonly string[];
  /** @default the image's WORKDIR */
  readonly workingDir?: string;
  /**
   * Environment variables, in order: literal values, or fields of the pod (downward API). Never secrets: those
   * come from a Secret volume.
   * @default none
   */
  readonly env?: readonly EnvVar[];
  /** @default no startup probe */
  readonly startup?: kplus.Probe;
  /** @default no readiness probe (only for programs that serve nothing) */
  readonly readiness?: kplus.Probe;
  /** @default no liveness probe (only for programs whose failure is their exit) */
  readonly liveness?: kplus.Probe;
  /** Requests and limits; required, because cdk8s-plus's defaults (1-1.5 CPU, 0.5-2 GiB) fit none of our apps. */
  readonly resources: Resources;
  /** How the image may run. */
  readonly security: SecurityProfile;
  /**
   * Paths the program writes to, each given an emptyDir (needed with a read-only root filesystem).
   * @default none
   */
  readonly writablePaths?: readonly string[];
  /** @default none */
  readonly mounts?: readonly MountSpec[];
  /**
   * Lifecycle hook run before the container is stopped, e.g. a graceful quit.
   * @default none
   */
  readonly preStop?: readonly string[];
}

/** Pod-wide settings that go with the containers. */
export interface AppPodSpec {
  readonly containers: readonly AppContainerSpec[];
  /**
   * Init containers, run in order before the app containers.
   * @default none
   */
  readonly initContainers?: readonly AppContainerSpec[];
  /**
   * Safe, namespaced sysctls, e.g. `net.ipv4.ip_unprivileged_port_start=0` to let a non-root process bind 80/443.
   * @default none
   */
  readonly sysctls?: Readonly<Record<string, string>>;
  /**
   * Run the pod's containers in one PID namespace, whose PID 1 is the pod's pause container, so that no program is
   * PID 1. For programs that install no SIGTERM handler: the kernel ignores a signal without a handler for PID 1,
   * so such a program outlives SIGTERM, every stop waits the whole termination grace period and ends in SIGKILL
   * (exit 137); as any other PID, SIGTERM's default action ends it at once (exit 143). Pod Security "restricted"
   * allows it. The cost: the containers of the pod see each other's processes (and, as the same UID, their
   * `/proc/<pid>/root` and environment), so a pod that mixes programs of different trust should not use it.
   * @default false: each container's program is PID 1 of its own PID namespace and must handle SIGTERM itself
   */
  readonly shareProcessNamespace?: boolean;
}

/**
 * Fills a cdk8s-plus pod (Deployment template or Pod) from an AppPodSpec, validating as it goes, and removes the
 * cdk8s-plus additions that do not belong in our output. `specPath` is the JSON pointer of the PodSpec
 * (`/spec/template/spec` for a Deployment, `/spec` for a Pod).
 */
export function buildPod(scope: IConstruct, pod: kplus.AbstractPod, podObject: ApiObject, specPath: string, spec: AppPodSpec): void {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  if (spec.containers.length === 0) throw new Error(`${scope.node.path}: a pod needs at least one container`);
  v.unique(scope, 'container names', all.map((c) => c.name));
  v.unique(scope, 'container port names', spec.containers.flatMap((c) => (c.port ? [c.port.name] : [])));
  v.unique(scope, 'container ports', spec.containers.flatMap((c) => (c.port ? [c.port.number] : [])));

  const restricted = all.every((c) => isRestricted(c.security));
  // Under a platform that requires "restricted", a container that needs root would be refused by admission.
  if (platformOf(scope).podSecurity === 'restricted') {
    for (const c of all.filter((x) => !isRestricted(x.security))) {
      throw ValidationError.of(scope, `container "${c.name}" security`, c.security.runAs === 'image-default' ? 'image-default' : c.security,
        'must be restricted (non-root UID, read-only root, all capabilities dropped): platform.podSecurity is "restricted"');
    }
  }
  const runAs = all.map((c) => c.security.runAs).find((r) => r !== 'image-default');
  (spec.initContainers ?? []).forEach((c, i) => {
    pod.addInitContainer(containerProps(scope, podObject, c));
    patchContainer(podObject, `${specPath}/initContainers/${i}`, c, scope);
  });
  spec.containers.forEach((c, i) => {
    pod.addContainer(containerProps(scope, podObject, c));
    patchContainer(podObject, `${specPath}/containers/${i}`, c, scope);
  });
  // cdk8s-plus-27 has no prop for it (PodProps has hostNetwork, not shareProcessNamespace).
  if (spec.shareProcessNamespace) podObject.addJsonPatch(JsonPatch.add(`${specPath}/shareProcessNamespace`, true));
  // seccomp RuntimeDefault is harmless for every seed image and required by PSS restricted; cdk8s-plus-27 has no
  // prop for it.
  podObject.addJsonPatch(JsonPatch.add(`${specPath}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
  if (restricted && runAs && typeof runAs === 'object') {
    podObject.addJsonPatch(JsonPatch.add(`${specPath}/securityContext/runAsUser`, runAs.user));
    podObject.addJsonPatch(JsonPatch.add(`${specPath}/securityContext/runAsGroup`, runAs.group));
    podObject.addJsonPatch(JsonPatch.add(`${specPath}/securityContext/fsGroup`, runAs.group));
  }
}

/** The pod-level security context for cdk8s-plus: non-root only when every container can run so. */
export function podSecurityContext(spec: AppPodSpec): kplus.PodSecurityContextProps {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const nonRoot = all.every((c) => c.security.runAs !== 'image-default');
  return {
    ensureNonRoot: nonRoot,
    sysctls: Object.entries(spec.sysctls ?? {}).map(([name, value]) => ({ name, value })),
  };
}

function containerProps(scope: IConstruct, podObject: ApiObject, c: AppContainerSpec): kplus.ContainerProps {
  v.dnsLabel(scope, `container name`, c.name);
  v.pinnedImage(scope, `container "${c.name}" image`, c.image);
  const image = resolveImage(scope, podObject, `container "${c.name}" image`, c.image);
  if (c.port) {
    v.portName(scope, `container "${c.name}" port name`, c.port.name);
    v.port(scope, `container "${c.name}" port`, c.port.number);
  }
  for (const kind of ['startup', 'readiness', 'liveness'] as const) {
    const probe = c[kind];
    if (probe) checkProbe(scope, c.name, kind, probe);
  }
  const env = c.env ?? [];
  for (const e of env) v.envName(scope, `container "${c.name}" env name`, e.name);
  v.unique(scope, `container "${c.name}" env names`, env.map((e) => e.name));

  const sec = c.security;
  const mounts: kplus.VolumeMount[] = [];
  for (const path of c.writablePaths ?? []) {
    const volName = `${c.name}-${path.replace(/^\/+/, '').replace(/[^a-z0-9]+/g, '-')}`.replace(/-+$/, '');
    v.dnsLabel(scope, `volume name for writable path "${path}"`, volName);
    mounts.push({ path, volume: kplus.Volume.fromEmptyDir(scope, `writable-${volName}`, volName) });
  }
  for (const m of c.mounts ?? []) mounts.push({ path: m.path, volume: m.volume, readOnly: m.readOnly ?? true });

  return {
    name: c.name,
    image,
    imagePullPolicy: c.imagePullPolicy ?? kplus.ImagePullPolicy.ALWAYS,
    ports: c.port ? [{ name: c.port.name, number: c.port.number }] : [],
    command: c.command ? [...c.command] : undefined,
    args: c.args ? [...c.args] : undefined,
    workingDir: c.workingDir,
    envVariables: Object.fromEntries(env.map((e) => [e.name, 'fieldRef' in e ? fieldRefValue(scope, c.name, e) : kplus.EnvValue.fromValue(e.value)])),
    // Without an explicit startup probe cdk8s-plus adds a TCP one on the first port, even for programs that
    // take minutes to listen (the shop's npm install); an explicit `undefined` does not stop that, so the
    // patch in patchContainer removes what we did not ask for.
    startup: c.startup,
    readiness: c.readiness,
    liveness: c.liveness,
    resources: {},
    securityContext: {
      ensureNonRoot: sec.runAs !== 'image-default',
      user: sec.runAs === 'image-default' ? undefined : sec.runAs.user,
      group: sec.runAs === 'image-default' ? undefined : sec.runAs.group,
      readOnlyRootFilesystem: sec.readOnlyRootFilesystem,
      allowPrivilegeEscalation: false,
      privileged: false,
      // cdk8s-plus-27's Capability enum has no ALL, the value PSS restricted requires.
      capabilities: sec.dropAllCapabilities ? { drop: ['ALL' as kplus.Capability] } : undefined,
    },
    volumeMounts: mounts,
    lifecycle: c.preStop ? { preStop: kplus.Handler.fromCommand([...c.preStop]) } : undefined,
  };
}

// Labels and annotations need a key (`metadata.labels['x']`), which FieldRefEnvVar does not carry.
const KEYLESS_FIELD_PATHS: readonly string[] = Object.values(kplus.EnvFieldPaths)
  .filter((p) => p !== kplus.EnvFieldPaths.POD_LABEL && p !== kplus.EnvFieldPaths.POD_ANNOTATION);

function fieldRefValue(scope: IConstruct, container: string, e: FieldRefEnvVar): kplus.EnvValue {
  if (!KEYLESS_FIELD_PATHS.includes(e.fieldRef)) {
    throw ValidationError.of(scope, `container "${container}" env "${e.name}" fieldRef`, e.fieldRef, `must be one of ${KEYLESS_FIELD_PATHS.join(', ')}`);
  }
  return kplus.EnvValue.fromFieldRef(e.fieldRef);
}

function patchContainer(podObject: ApiObject, path: string, c: AppContainerSpec, scope: IConstruct): void {
  const { requests, limits } = renderResources(scope, `container "${c.name}" resources`, c.resources);
  // Patches apply before cdk8s-plus's typed rendering, which reads quantities as Quantity objects.
  const asQuantities = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, q]) => [k, Quantity.fromString(q)]));
  podObject.addJsonPatch(JsonPatch.add(`${path}/resources`, { requests: asQuantities(requests), limits: asQuantities(limits) }));
  if (!c.startup && c.port) podObject.addJsonPatch(JsonPatch.remove(`${path}/startupProbe`));
}
