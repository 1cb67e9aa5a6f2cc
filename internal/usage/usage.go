// Package usage holds the mark of a configuration mistake, which every
// command answers with exit status 2 (cli.ErrUsage is the same error). It
// imports nothing, so that the packages cli itself builds on, such as
// broker, can mark the mistakes they find.
package usage

import "errors"

// Err marks a configuration mistake.
var Err = errors.New("invalid configuration")
