package cli

import (
	"fmt"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// SigningSecret is the secret a sending tool signs with: the first of
// $STORYLANE_WEBHOOK_SECRET, or of file's lines when file is set.
func SigningSecret(file string, getenv func(string) string) (string, error) {
	secrets, err := storylane.SecretsFromList(getenv("STORYLANE_WEBHOOK_SECRET"))
	if err != nil && file == "" {
		return "", fmt.Errorf("%w: $STORYLANE_WEBHOOK_SECRET, %w", ErrUsage, err)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: read secret file: %w", ErrUsage, err)
		}
		if secrets, err = storylane.SecretsFromLines(b); err != nil {
			return "", fmt.Errorf("%w: secret file %s, %w", ErrUsage, file, err)
		}
	}
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret: set $STORYLANE_WEBHOOK_SECRET or --secret-file", ErrUsage)
	}
	return secrets[0], nil
}
