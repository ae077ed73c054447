import { Duration } from 'cdk8s';
import * as kplus from '../core/kplus';

// Probe shapes that fit the seed apps, none of which has a health endpoint (see ../README.md, "Probes").

/** Ready when `GET path` answers 2xx/3xx. */
export function httpGet(path: string, port: number, opts: kplus.ProbeOptions = {}): kplus.Probe {
  return kplus.Probe.fromHttpGet(path, { port, periodSeconds: Duration.seconds(10), failureThreshold: 3, ...opts });
}

/** Up when the port accepts a TCP connection. */
export function tcp(port: number, opts: kplus.ProbeOptions = {}): kplus.Probe {
  return kplus.Probe.fromTcpSocket({ port, periodSeconds: Duration.seconds(10), failureThreshold: 3, ...opts });
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
  const attempts = Math.ceil(budget.toSeconds() / period.toSeconds());
  return kplus.Probe.fromTcpSocket({ port, periodSeconds: period, failureThreshold: attempts });
}
