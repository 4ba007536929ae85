package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// Config is the JSON file given with --config. It is read again at every sign-in and every
// client look-up, so a test can change a user's roles (or a client's credentials) between two
// sign-ins, as an administrator would in Entra.
type Config struct {
	// Optional; when given it must be the --tenant the provider runs for.
	TenantID string         `json:"tenant_id,omitempty"`
	Clients  []ClientConfig `json:"clients"`
	Users    []UserConfig   `json:"users"`
}

type ClientConfig struct {
	ClientID string `json:"client_id"`
	// Empty: the client cannot authenticate with a secret (only with an assertion).
	ClientSecret           string   `json:"client_secret,omitempty"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Public keys (a JWKS or a PEM public key) for assertions the app signs itself, as for
	// Entra's certificate credentials: iss = sub = client_id, aud = the token endpoint.
	CertificateKeysFile string `json:"certificate_keys_file,omitempty"`
	// Tokens of another issuer accepted as the client assertion, as Entra's federated identity
	// credentials (workload identity federation): exact issuer and subject, one of the audiences.
	FederatedCredentials []FederatedCredential `json:"federated_credentials,omitempty"`
}

type FederatedCredential struct {
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
	// The issuer's public keys (a JWKS or a PEM public key). Entra fetches them from the
	// issuer's discovery document; a file keeps this provider off every network.
	KeysFile string `json:"keys_file"`
}

type UserConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// The user's object id in the tenant (a GUID): what an app keys its users on, with tid.
	OID   string   `json:"oid"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// LoadConfig reads and checks the file; unknown fields are refused so a typo is an error.
func LoadConfig(path, tenantID string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	config := new(Config)
	if err := decoder.Decode(config); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if config.TenantID != "" && config.TenantID != tenantID {
		return nil, fmt.Errorf("config %s: tenant_id %s is not the provider's tenant %s", path, config.TenantID, tenantID)
	}
	if err := config.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return config, nil
}

func (c *Config) validate() error {
	if len(c.Clients) == 0 {
		return errors.New("no clients")
	}
	clientIDs := map[string]bool{}
	for _, client := range c.Clients {
		if client.ClientID == "" || clientIDs[client.ClientID] {
			return fmt.Errorf("client_id %q is empty or repeated", client.ClientID)
		}
		clientIDs[client.ClientID] = true
		if len(client.RedirectURIs) == 0 {
			return fmt.Errorf("client %s has no redirect_uris", client.ClientID)
		}
		if client.ClientSecret == "" && client.CertificateKeysFile == "" && len(client.FederatedCredentials) == 0 {
			return fmt.Errorf("client %s has no credential: give client_secret, certificate_keys_file or federated_credentials", client.ClientID)
		}
		for _, credential := range client.FederatedCredentials {
			if credential.Issuer == "" || credential.Subject == "" || len(credential.Audiences) == 0 || credential.KeysFile == "" {
				return fmt.Errorf("client %s: a federated credential needs issuer, subject, audiences and keys_file", client.ClientID)
			}
		}
	}
	usernames := map[string]bool{}
	for _, user := range c.Users {
		if user.Username == "" || usernames[user.Username] {
			return fmt.Errorf("username %q is empty or repeated", user.Username)
		}
		usernames[user.Username] = true
		if user.Password == "" {
			return fmt.Errorf("user %s has no password", user.Username)
		}
		if _, err := uuid.Parse(user.OID); err != nil {
			return fmt.Errorf("user %s: oid %q is not a GUID", user.Username, user.OID)
		}
	}
	return nil
}

func (c *Config) client(clientID string) (*ClientConfig, bool) {
	for i := range c.Clients {
		if c.Clients[i].ClientID == clientID {
			return &c.Clients[i], true
		}
	}
	return nil, false
}

func (c *Config) user(username string) (*UserConfig, bool) {
	for i := range c.Users {
		if c.Users[i].Username == username {
			return &c.Users[i], true
		}
	}
	return nil, false
}

// LoadKeys reads public keys from a JWKS document or a PEM public key (PKIX or a certificate).
func LoadKeys(path string) (*jose.JSONWebKeySet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	if block, _ := pem.Decode(raw); block != nil {
		var key any
		switch block.Type {
		case "CERTIFICATE":
			certificate, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("keys %s: %w", path, err)
			}
			key = certificate.PublicKey
		default:
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("keys %s: %w", path, err)
			}
		}
		return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, Use: "sig"}}}, nil
	}
	keys := new(jose.JSONWebKeySet)
	if err := json.Unmarshal(raw, keys); err != nil {
		return nil, fmt.Errorf("keys %s: neither PEM nor a JWKS: %w", path, err)
	}
	if len(keys.Keys) == 0 {
		return nil, fmt.Errorf("keys %s: the JWKS holds no key", path)
	}
	return keys, nil
}
