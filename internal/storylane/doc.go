// Package storylane is the domain of Storylane demo-session webhooks: the
// session payload and its parts, reading a webhook body (Reader: the I-JSON
// check, the session schema and the known/unknown rule, on one parse), and
// the x-storylane-signature scheme with a keyring of active secrets.
//
// It is pure: it does no I/O, imports nothing else from this module but the
// embedded schema (package schemas) and returns errors instead of logging
// them. fastjson is a detail of its parse and appears in no exported API.
package storylane
