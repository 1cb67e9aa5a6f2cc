// Package broker connects storylane-bridge to NATS JetStream: an embedded
// JetStream server for one-command setups, a connection to an external
// server or cluster, the STORYLANE stream and its subjects, and publishing
// that waits for JetStream's acknowledgement.
//
// Connection-state changes happen outside any call, so they are what this
// package logs, with the opening and closing of a process's broker (Open);
// everything else is returned as an error.
package broker
