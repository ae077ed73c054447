import { Duration } from 'cdk8s';
import { IConstruct } from 'constructs';
import { ValidationError } from '../core/errors';
import { isObject, libraryInternal } from '../core/library-internals';
import * as kplus from '../core/kplus';
import * as v from '../core/validation';

// Probe shapes that fit the seed apps, none of which has a health endpoint (see ../README.md, "Probes").
// Each first check waits FIRST_CHECK: fired the moment the container starts, it can race the program's own start
// and fail once ("connection refused", a Warning event the node suite refuses; seen on a loaded node for go-ok).
const FIRST_CHECK = Duration.seconds(2);

/** Ready when `GET path` answers 2xx/3xx. */
export function httpGet(path: string, port: number, opts: kplus.ProbeOptions = {}): kplus.Probe {
  return kplus.Probe.fromHttpGet(path, { port, periodSeconds: Duration.seconds(10), failureThreshold: 3, initialDelaySeconds: FIRST_CHECK, ...opts });
}

/** Up when the port accepts a TCP connection. */
export function tcp(port: number, opts: kplus.ProbeOptions = {}): kplus.Probe {
  return kplus.Probe.fromTcpSocket({ port, periodSeconds: Duration.seconds(10), failureThreshold: 3, initialDelaySeconds: FIRST_CHECK, ...opts });
}

/**
 * Alive when the node.js event loop answers an HTTP request on the port, whatever the status: the shop
 * services answer 404 on `/`, which still proves the loop runs, while a TCP probe only proves the kernel
 * accepts connections. Runs the container's own `node`, so it needs no extra tool in the image.
 */
export function nodeHttpAnswers(port: number, opts: kplus.ProbeOptions = {}): kplus.Probe {
  const script = `require('http').get({host:'127.0.0.1',port:${port},path:'/',timeout:4000},function(r){process.exit(0)})`
    + `.on('error',function(){process.exit(1)}).on('timeout',function(){process.exit(1)})`;
  return kplus.Probe.fromCommand(['node', '-e', script], {
    periodSeconds: Duration.seconds(20), timeoutSeconds: Duration.seconds(5), failureThreshold: 3, ...opts,
  });
}

/** A startup budget: `period` x `attempts`, during which liveness and readiness wait. */
export function startupTcp(port: number, budget: Duration, period = Duration.seconds(5)): kplus.Probe {
  // A zero budget gives 0 attempts, which checkProbe reports with the container's name.
  const attempts = Math.ceil(budget.toSeconds() / period.toSeconds());
  return kplus.Probe.fromTcpSocket({ port, periodSeconds: period, failureThreshold: attempts, initialDelaySeconds: FIRST_CHECK });
}

export type ProbeKind = 'startup' | 'readiness' | 'liveness';

/**
 * Checks a probe's timing where the container is built, so a nonsense value names the container, the probe and
 * the field (not a schema error on a derived field, or a probe that can never pass): period and timeout whole
 * seconds >= 1, timeout within the period, thresholds >= 1 (success 1 for liveness and startup, as the API server
 * requires), initial delay >= 0 (so a startup budget, period x failureThreshold, is at least one period).
 */
export function checkProbe(scope: IConstruct, container: string, kind: ProbeKind, probe: kplus.Probe): void {
  const field = (f: string) => `container "${container}" ${kind} probe ${f}`;
  // cdk8s-plus keeps a probe's options private and renders them only into a container: read them, loudly.
  const o: kplus.ProbeOptions = libraryInternal(scope, probe, 'probeOptions', 'cdk8s-plus-27', isObject);
  const seconds = (f: string, d: Duration | undefined, min: number, fallback: number): number => {
    if (d === undefined) return fallback;
    if (typeof (d as Partial<Duration> | null)?.toSeconds !== 'function') throw ValidationError.of(scope, field(f), d, 'must be a cdk8s Duration, e.g. Duration.seconds(10)');
    let s: number;
    try {
      s = d.toSeconds();
    } catch (e) {
      throw ValidationError.of(scope, field(f), d.toHumanString(), `must be whole seconds (${(e as Error).message})`);
    }
    return v.integer(scope, field(f), s, min, Number.MAX_SAFE_INTEGER, 'in seconds');
  };
  const period = seconds('periodSeconds', o.periodSeconds, 1, 10);
  const timeout = seconds('timeoutSeconds', o.timeoutSeconds, 1, 1);
  seconds('initialDelaySeconds', o.initialDelaySeconds, 0, 0);
  if (timeout > period) {
    throw ValidationError.of(scope, field('timeoutSeconds'), timeout, `must not be longer than the period (${period} s): the next check would start before this one timed out`);
  }
  v.integer(scope, field('failureThreshold'), o.failureThreshold ?? 3, 1); // a startup budget of 0 attempts is caught here
  const success = v.integer(scope, field('successThreshold'), o.successThreshold ?? 1, 1);
  if (kind !== 'readiness' && success !== 1) {
    throw ValidationError.of(scope, field('successThreshold'), success, `must be 1 for a ${kind} probe (the API server rejects anything else)`);
  }
}
