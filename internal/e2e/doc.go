// Package e2e holds the end-to-end tests: the real binaries, built from
// this module, running as processes on loopback, with the faults the
// product promises to survive.
package e2e
