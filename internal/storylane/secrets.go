package storylane

import "strings"

// SecretsFromList splits a comma-separated list of secrets, as found in
// STORYLANE_WEBHOOK_SECRET. Blanks around each secret and empty items are
// dropped.
func SecretsFromList(list string) []string {
	return nonEmpty(strings.Split(list, ","))
}

// SecretsFromLines reads one secret per line, as in the file named by
// STORYLANE_WEBHOOK_SECRET_FILE. Blank lines and surrounding blanks
// (including a Windows line ending) are dropped.
func SecretsFromLines(text []byte) []string {
	return nonEmpty(strings.Split(string(text), "\n"))
}

func nonEmpty(items []string) []string {
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
