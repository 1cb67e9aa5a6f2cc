// Package storylane is the domain of Storylane demo-session webhooks: the
// session payload and its parts, the known/unknown rule, and the
// x-storylane-signature scheme with a keyring of active secrets.
//
// It is pure: it does no I/O, imports nothing else from this module and
// returns errors instead of logging them.
package storylane
