// Package keyring loads the webhook secrets, from the environment or a file,
// and keeps those of a file current while the process runs, so a secret is
// rotated without a restart. Verifying a signature with them is storylane's.
package keyring

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvisibleInSecret marks a secret holding a character that cannot be
// seen, such as the byte-order mark some editors put at the start of a
// file. Such a secret is refused rather than cleaned: the bridge cannot tell
// whether it is part of the secret Storylane signs with, and guessing wrong
// either way would answer every webhook 401 with a reload that said ok.
var ErrInvisibleInSecret = errors.New("invisible character in a webhook secret")

// SecretsFromList splits a comma-separated list of secrets, as found in
// STORYLANE_WEBHOOK_SECRET. Blanks around each secret and empty items are
// dropped; an item holding any other invisible character is an error
// naming it by position.
func SecretsFromList(list string) ([]string, error) {
	return visibleItems(strings.Split(list, ","), "item")
}

// SecretsFromLines reads one secret per line, as in the file named by
// STORYLANE_WEBHOOK_SECRET_FILE. Blank lines and surrounding blanks
// (including a Windows line ending) are dropped; a line holding any other
// invisible character (a byte-order mark, a zero-width or non-breaking
// space, a control character) is an error naming the line.
func SecretsFromLines(text []byte) ([]string, error) {
	return visibleItems(strings.Split(string(text), "\n"), "line")
}

// blanks are what editors and shells leave around a secret, trimmed
// silently; everything else that does not print is refused.
const blanks = " \t\r"

func visibleItems(items []string, unit string) ([]string, error) {
	var out []string
	for i, s := range items {
		s = strings.Trim(s, blanks)
		if s == "" {
			continue
		}
		if err := visible(s); err != nil {
			return nil, fmt.Errorf("%s %d: %w", unit, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// visible reports the first character of s that does not print, by code
// point and place, never showing the secret itself.
func visible(s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && size == 1
		if !invalid && unicode.IsPrint(r) {
			i += size
			continue
		}
		where := "inside it"
		switch {
		case i == 0:
			where = "at its start"
		case i+size == len(s):
			where = "at its end"
		}
		what := fmt.Sprintf("%U", r)
		switch {
		case invalid:
			what = "a byte that is not UTF-8"
		case r == '\uFEFF':
			what += " (a byte-order mark: save the file as UTF-8 without BOM)"
		}
		return fmt.Errorf("%w: %s %s", ErrInvisibleInSecret, what, where)
	}
	return nil
}
