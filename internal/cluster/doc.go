// Package cluster holds the tests of several parley processes forming one
// chat over PostgreSQL and Redis (docs/DEPLOY.md): every socket in a room sees
// every message in seq order while processes are killed, Redis restarts,
// PostgreSQL stops and starts, and nginx stands in front. The package has
// no code of its own; its tests run the real program.
package cluster
