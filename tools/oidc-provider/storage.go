package main

// In-memory storage for the op package, modelled on zitadel/oidc's example/server/storage but
// with Entra's claims and rules. Users and clients are read from the config file whenever they
// are needed; only auth requests, codes and access tokens live in memory.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// Entra's authorization codes are short-lived; ten minutes is plenty for a test.
	codeLifetime        = 10 * time.Minute
	accessTokenLifetime = time.Hour
	idTokenLifetime     = time.Hour
	loginPath           = "/login"
)

var errBadCredentials = errors.New("wrong username or password")

// signedInUser is the user as the config file described them at sign-in: the ID token carries
// these roles even if the file changes before the code is redeemed, as Entra's would.
type signedInUser struct {
	subject  string
	oid      string
	username string
	name     string
	roles    []string
}

type authRequest struct {
	id            string
	created       time.Time
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	loginHint     string

	user     *signedInUser
	authTime time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return nil } // v2.0 ID tokens carry no amr
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) Done() bool                            { return a.user != nil }
func (a *authRequest) GetSubject() string {
	if a.user == nil {
		return ""
	}
	return a.user.subject
}

type accessToken struct {
	clientID   string
	user       signedInUser
	scopes     []string
	expiration time.Time
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

type Storage struct {
	configPath string
	tenantID   string
	signingKey *signingKey

	lock         sync.Mutex
	authRequests map[string]*authRequest
	codes        map[string]string // code -> auth request id
	tokens       map[string]*accessToken
}

var (
	_ op.Storage                   = (*Storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*Storage)(nil)
)

func NewStorage(configPath, tenantID string) (*Storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Storage{
		configPath:   configPath,
		tenantID:     tenantID,
		signingKey:   &signingKey{id: uuid.NewString(), key: key},
		authRequests: map[string]*authRequest{},
		codes:        map[string]string{},
		tokens:       map[string]*accessToken{},
	}, nil
}

func (s *Storage) config() (*Config, error) {
	config, err := LoadConfig(s.configPath, s.tenantID)
	if err != nil {
		// A broken file is the provider's fault, not the client's: answer server_error.
		return nil, oidc.ErrServerError().WithDescription("the provider's config file cannot be read").WithParent(err)
	}
	return config, nil
}

// pairwiseSubject is Entra's `sub`: stable, but different for every app, unlike `oid`.
func (s *Storage) pairwiseSubject(oid, clientID string) string {
	digest := sha256.Sum256([]byte(s.tenantID + "\x00" + clientID + "\x00" + oid))
	return base64.RawURLEncoding.EncodeToString(digest[:])
}

// CheckLogin is the login page's password check. The user is read from the config file now,
// so the roles are those the file says at this sign-in.
func (s *Storage) CheckLogin(requestID, username, password string) error {
	config, err := s.config()
	if err != nil {
		return err
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	request, ok := s.authRequests[requestID]
	if !ok {
		return errUnknownRequest
	}
	user, ok := config.user(username)
	if !ok || subtle.ConstantTimeCompare([]byte(user.Password), []byte(password)) != 1 {
		return errBadCredentials
	}
	request.user = &signedInUser{
		subject:  s.pairwiseSubject(user.OID, request.clientID),
		oid:      user.OID,
		username: user.Username,
		name:     user.Name,
		roles:    slices.Clone(user.Roles),
	}
	request.authTime = time.Now()
	return nil
}

var errUnknownRequest = errors.New("unknown or finished sign-in request")

func (s *Storage) loginHint(requestID string) (string, bool) {
	s.lock.Lock()
	defer s.lock.Unlock()
	request, ok := s.authRequests[requestID]
	if !ok {
		return "", false
	}
	return request.loginHint, true
}

func (s *Storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		// This provider keeps no session, so it can never sign in silently.
		return nil, oidc.ErrLoginRequired()
	}
	// Orderdesk's client must use PKCE with S256 (RFC 7636); plain or none is refused here,
	// before a login page is shown.
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	request := &authRequest{
		id:            uuid.NewString(),
		created:       time.Now(),
		clientID:      req.ClientID,
		redirectURI:   req.RedirectURI,
		state:         req.State,
		nonce:         req.Nonce,
		scopes:        req.Scopes,
		responseType:  req.ResponseType,
		responseMode:  req.ResponseMode,
		codeChallenge: &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
		loginHint:     req.LoginHint,
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	s.authRequests[request.id] = request
	return request, nil
}

func (s *Storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.lock.Lock()
	defer s.lock.Unlock()
	request, ok := s.authRequests[id]
	if !ok {
		return nil, errUnknownRequest
	}
	return request, nil
}

func (s *Storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.lock.Lock()
	id, ok := s.codes[code]
	s.lock.Unlock()
	if !ok {
		return nil, errors.New("code unknown or already redeemed")
	}
	request, err := s.AuthRequestByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if time.Since(request.(*authRequest).created) > codeLifetime {
		return nil, errors.New("code expired")
	}
	return request, nil
}

func (s *Storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code is redeemed: a code works once.
func (s *Storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.lock.Lock()
	defer s.lock.Unlock()
	delete(s.authRequests, id)
	for code, requestID := range s.codes {
		if requestID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *Storage) CreateAccessToken(_ context.Context, request op.TokenRequest) (string, time.Time, error) {
	auth, ok := request.(*authRequest)
	if !ok || auth.user == nil {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	token := &accessToken{
		clientID:   auth.clientID,
		user:       *auth.user,
		scopes:     auth.scopes,
		expiration: time.Now().Add(accessTokenLifetime),
	}
	id := uuid.NewString()
	s.lock.Lock()
	defer s.lock.Unlock()
	s.tokens[id] = token
	return id, token.expiration, nil
}

// Refresh tokens are not offered: clients get no refresh_token grant type.
func (s *Storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

func (s *Storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *Storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *Storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.lock.Lock()
	defer s.lock.Unlock()
	for id, token := range s.tokens {
		if token.clientID == clientID && token.user.subject == userID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *Storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.lock.Lock()
	defer s.lock.Unlock()
	if token, ok := s.tokens[tokenOrID]; ok && token.clientID == clientID {
		delete(s.tokens, tokenOrID)
	}
	return nil
}

func (s *Storage) SigningKey(context.Context) (op.SigningKey, error) { return s.signingKey, nil }

func (s *Storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *Storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.signingKey}}, nil
}

func (s *Storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	config, err := s.config()
	if err != nil {
		return nil, err
	}
	client, ok := config.client(clientID)
	if !ok {
		return nil, fmt.Errorf("client %q is not registered", clientID)
	}
	return &Client{*client}, nil
}

func (s *Storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	config, err := s.config()
	if err != nil {
		return err
	}
	client, ok := config.client(clientID)
	if !ok || client.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(client.ClientSecret), []byte(secret)) != 1 {
		return errors.New("unknown client or wrong client secret")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in the op package; SetUserinfoFromRequest does the work.
func (s *Storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token with Entra's v2.0 claims.
func (s *Storage) SetUserinfoFromRequest(_ context.Context, userinfo *oidc.UserInfo, request op.IDTokenRequest, scopes []string) error {
	auth, ok := request.(*authRequest)
	if !ok || auth.user == nil {
		return errors.New("ID tokens are issued only for a finished sign-in")
	}
	user := auth.user
	userinfo.Subject = user.subject
	userinfo.AppendClaims("tid", s.tenantID)
	userinfo.AppendClaims("ver", "2.0")
	userinfo.AppendClaims("nbf", time.Now().Unix())
	// Entra omits `roles` when no app role is assigned to the user.
	if len(user.roles) > 0 {
		userinfo.AppendClaims("roles", user.roles)
	}
	// name, preferred_username and oid need the profile scope (Entra's ID token claims reference).
	if slices.Contains(scopes, oidc.ScopeProfile) {
		userinfo.Name = user.name
		userinfo.PreferredUsername = user.username
		userinfo.AppendClaims("oid", user.oid)
	}
	return nil
}

func (s *Storage) SetUserinfoFromToken(_ context.Context, userinfo *oidc.UserInfo, tokenID, _, _ string) error {
	s.lock.Lock()
	token, ok := s.tokens[tokenID]
	s.lock.Unlock()
	if !ok || time.Now().After(token.expiration) {
		return errors.New("access token unknown or expired")
	}
	userinfo.Subject = token.user.subject
	if slices.Contains(token.scopes, oidc.ScopeProfile) {
		userinfo.Name = token.user.name
		userinfo.PreferredUsername = token.user.username
	}
	return nil
}

func (s *Storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not offered")
}

func (s *Storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// The JWT profile grant is not offered; client assertions are checked in assertion.go.
func (s *Storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *Storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *Storage) Health(context.Context) error { return nil }

// Client is a registered app as the config file describes it.
type Client struct{ config ClientConfig }

var _ op.Client = (*Client)(nil)

func (c *Client) GetID() string                    { return c.config.ClientID }
func (c *Client) RedirectURIs() []string           { return c.config.RedirectURIs }
func (c *Client) PostLogoutRedirectURIs() []string { return c.config.PostLogoutRedirectURIs }
func (c *Client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}

// AuthMethod: with a secret, client_secret_basic (the op package accepts the same secret by
// form post too); without one, only an assertion (assertion.go) authenticates the client.
func (c *Client) AuthMethod() oidc.AuthMethod {
	if c.config.ClientSecret != "" {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodPrivateKeyJWT
}
func (c *Client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *Client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *Client) LoginURL(id string) string    { return loginPath + "?authRequestID=" + id }
func (c *Client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c *Client) IDTokenLifetime() time.Duration { return idTokenLifetime }
func (c *Client) DevMode() bool                  { return false }
func (c *Client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *Client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *Client) IsScopeAllowed(string) bool { return false }

// Entra puts name and preferred_username in the ID token even though an access token is
// issued beside it; the op package would otherwise leave profile claims to userinfo.
func (c *Client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *Client) ClockSkew() time.Duration             { return 0 }
