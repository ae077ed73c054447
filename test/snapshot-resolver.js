const path = require('path');

const root = path.join(__dirname, '..');
const snapshots = path.join(root, '__snapshots__');
const tests = path.join(root, 'test');

// test/foo.test.ts <-> __snapshots__/foo.test.ts.snap
module.exports = {
  resolveSnapshotPath: (testPath, ext) => path.join(snapshots, path.relative(tests, testPath) + ext),
  resolveTestPath: (snapshotPath, ext) => path.join(tests, path.relative(snapshots, snapshotPath).slice(0, -ext.length)),
  testPathForConsistencyCheck: path.join(tests, 'example.test.ts'),
};
