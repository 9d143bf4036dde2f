// Package idemtest is the behaviour suite every [idempotency.Store] must
// pass: the memory store, package sqlidem on SQLite and PostgreSQL, and
// package redisidem on Redis and Redis Cluster run it.
package idemtest
