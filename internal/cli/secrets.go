package cli

import (
	"fmt"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// SigningSecret is the secret a sending tool signs with: the first of
// $STORYLANE_WEBHOOK_SECRET, or of file's lines when file is set.
func SigningSecret(file string, getenv func(string) string) (string, error) {
	secrets := storylane.SecretsFromList(getenv("STORYLANE_WEBHOOK_SECRET"))
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: read secret file: %w", ErrUsage, err)
		}
		secrets = storylane.SecretsFromLines(b)
	}
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret: set $STORYLANE_WEBHOOK_SECRET or --secret-file", ErrUsage)
	}
	return secrets[0], nil
}
