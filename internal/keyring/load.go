package keyring

import (
	"fmt"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// Environment variables that hold the webhook secrets. The secrets have no
// flag: a flag shows in every process listing.
const (
	EnvSecret     = "STORYLANE_WEBHOOK_SECRET"
	EnvSecretFile = "STORYLANE_WEBHOOK_SECRET_FILE"
)

// Loaded is the secrets read at start-up and where they came from, for
// New to keep them current.
type Loaded struct {
	keys    *storylane.Keyring
	file    string
	content []byte // the file's content, for reloads to compare
}

// Load reads the webhook secrets from $STORYLANE_WEBHOOK_SECRET or from
// file. No secret at all is an error: a bridge without one would refuse
// every webhook.
func Load(file string, getenv func(string) string) (Loaded, error) {
	list := getenv(EnvSecret)
	if list != "" && file != "" {
		return Loaded{}, fmt.Errorf("%w: set either $%s or $%s (--secret-file), not both", usage.Err, EnvSecret, EnvSecretFile)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Loaded{}, fmt.Errorf("%w: read webhook secret file ($%s, --secret-file): %w", usage.Err, EnvSecretFile, err)
		}
		k, err := fromFile(file, b)
		return Loaded{keys: k, file: file, content: b}, err
	}
	secrets, err := SecretsFromList(list)
	if err != nil {
		return Loaded{}, fmt.Errorf("%w: $%s, %w", usage.Err, EnvSecret, err)
	}
	if len(secrets) == 0 {
		return Loaded{}, fmt.Errorf("%w: no webhook secret: set $%s to the secret Storylane shows under Settings > Integrations > Webhook, or $%s to a file holding it",
			usage.Err, EnvSecret, EnvSecretFile)
	}
	k, err := storylane.NewKeyring(secrets...)
	return Loaded{keys: k}, err
}

func fromFile(file string, content []byte) (*storylane.Keyring, error) {
	secrets, err := SecretsFromLines(content)
	if err != nil {
		return nil, fmt.Errorf("%w: webhook secret file %s, %w", usage.Err, file, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: webhook secret file %s holds no secret; put the one Storylane shows in it, one per line", usage.Err, file)
	}
	return storylane.NewKeyring(secrets...)
}

// SigningSecret is the secret a sending tool signs with: the first of
// $STORYLANE_WEBHOOK_SECRET, or of file's lines when file is set.
func SigningSecret(file string, getenv func(string) string) (string, error) {
	secrets, err := SecretsFromList(getenv(EnvSecret))
	if err != nil && file == "" {
		return "", fmt.Errorf("%w: $%s, %w", usage.Err, EnvSecret, err)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: read secret file: %w", usage.Err, err)
		}
		if secrets, err = SecretsFromLines(b); err != nil {
			return "", fmt.Errorf("%w: secret file %s, %w", usage.Err, file, err)
		}
	}
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret: set $%s or --secret-file", usage.Err, EnvSecret)
	}
	return secrets[0], nil
}
