// STAND-IN for kubernetes-hy/material-example app1/index.js (jakousa/dwk-app1), built by
// test/cluster/harness/build-standin-images.sh: a random hash every 5 s on stdout, no port, no dependencies.
// Like upstream it installs no signal handler: as PID 1 it ignores SIGTERM (the kernel drops it), so a pod stop
// waits for the grace period unless the pod shares its process namespace (the model's fix).
const getHashNow = () => {
  const randomHash = Math.random().toString(36).substr(2, 6);
  console.log(`${new Date().toISOString()}: ${randomHash}`);
  setTimeout(getHashNow, 5000);
};

getHashNow();
