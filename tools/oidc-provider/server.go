package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// entraServer is the op package's LegacyServer with two of Entra's rules it does not have:
// client assertions as Entra accepts them, and PKCE checked for confidential clients too.
type entraServer struct {
	*op.LegacyServer
	storage       *Storage
	tokenEndpoint string
}

// Signature algorithms accepted in client assertions (Entra's certificate credentials name RS256
// and PS256; Kubernetes service account tokens are RS256 or ES256).
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// Entra tolerates some clock skew between the client's clock and its own.
const assertionLeeway = 5 * time.Minute

// VerifyClient authenticates the client at the token endpoint. A client_assertion is checked
// against the client's certificate keys (iss = sub = client_id, aud = the token endpoint) or
// its federated identity credentials (the credential's exact issuer and subject, one of its
// audiences), as Entra does; anything else goes to the op package (client secrets).
func (s *entraServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if r.Data.ClientAssertion == "" && r.Data.ClientAssertionType == "" {
		return s.LegacyServer.VerifyClient(ctx, r)
	}
	if r.Data.ClientAssertionType != oidc.ClientAssertionTypeJWTAssertion {
		return nil, oidc.ErrInvalidClient().WithDescription("client_assertion_type must be %s", oidc.ClientAssertionTypeJWTAssertion)
	}
	token, err := jwt.ParseSigned(r.Data.ClientAssertion, assertionAlgorithms)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("client_assertion is not a signed JWT").WithParent(err)
	}
	clientID := r.Data.ClientID
	if clientID == "" {
		// Certificate-style assertions name the client in iss and sub; checked below.
		var unverified jwt.Claims
		if err := token.UnsafeClaimsWithoutVerification(&unverified); err == nil {
			clientID = unverified.Subject
		}
	}
	config, err := s.storage.config()
	if err != nil {
		return nil, err
	}
	client, ok := config.client(clientID)
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	var reasons []error
	if client.CertificateKeysFile != "" {
		err := verifyAssertion(token, client.CertificateKeysFile, client.ClientID, client.ClientID, []string{s.tokenEndpoint})
		if err == nil {
			return &Client{*client}, nil
		}
		reasons = append(reasons, fmt.Errorf("certificate credential: %w", err))
	}
	for _, credential := range client.FederatedCredentials {
		err := verifyAssertion(token, credential.KeysFile, credential.Issuer, credential.Subject, credential.Audiences)
		if err == nil {
			return &Client{*client}, nil
		}
		reasons = append(reasons, fmt.Errorf("federated credential %s %s: %w", credential.Issuer, credential.Subject, err))
	}
	if len(reasons) == 0 {
		reasons = append(reasons, errors.New("the client has no certificate or federated credential"))
	}
	return nil, oidc.ErrInvalidClient().WithDescription("client_assertion matches no credential of the client").WithParent(errors.Join(reasons...))
}

func verifyAssertion(token *jwt.JSONWebToken, keysFile, issuer, subject string, audiences []string) error {
	keys, err := LoadKeys(keysFile)
	if err != nil {
		return err
	}
	keyID := token.Headers[0].KeyID
	var claims jwt.Claims
	verified := false
	for _, key := range keys.Keys {
		if key.KeyID != "" && keyID != "" && key.KeyID != keyID {
			continue
		}
		if token.Claims(key.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("signature verifies with none of the credential's keys")
	}
	if claims.Expiry == nil {
		return errors.New("no exp claim")
	}
	return claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      issuer,
		Subject:     subject,
		AnyAudience: jwt.Audience(audiences),
		Time:        time.Now(),
	}, assertionLeeway)
}

// CodeExchange checks PKCE before the op package redeems the code: its LegacyServer verifies
// the code_verifier of a confidential client only when one is sent, so a client that leaves it
// out would pass. Every code here has an S256 challenge (Storage.CreateAuthRequest).
func (s *entraServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	request, err := op.AuthRequestByCode(ctx, s.storage, r.Data.Code)
	if err != nil {
		return nil, err
	}
	if err := op.AuthorizeCodeChallenge(r.Data.CodeVerifier, request.GetCodeChallenge()); err != nil {
		return nil, err
	}
	if !slices.Contains(request.GetAudience(), r.Client.GetID()) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was issued to another client")
	}
	return s.LegacyServer.CodeExchange(ctx, r)
}
