// orderdesk-oidc: an OpenID Connect provider on 127.0.0.1 shaped like Microsoft Entra ID's v2.0
// endpoint, for Orderdesk's tests and `invoke up --sso`. The protocol is zitadel/oidc's op
// package; this program adds Entra's issuer and endpoint paths, its ID token claims (tid, oid,
// roles, ver), a login page, and users and clients from a JSON file read at every sign-in.
//
//	orderdesk-oidc --config idp.json --tenant 3f0c...-... [--port 0] [--exit-with-parent]
//
// Issuer: http://127.0.0.1:<port>/<tenant>/v2.0; discovery at <issuer>/.well-known/openid-configuration.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// Loopback only: this provider has test users with known passwords.
	listenHost      = "127.0.0.1"
	shutdownTimeout = 5 * time.Second
	signedOutPath   = "/signed-out"
)

func main() {
	configPath := flag.String("config", "", "JSON file with the clients and users (read again at every sign-in)")
	tenantID := flag.String("tenant", "", "tenant id (a GUID): the issuer is http://127.0.0.1:PORT/TENANT/v2.0")
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free port, logged at start)")
	exitWithParent := flag.Bool("exit-with-parent", false, "stop when the process that started this one ends")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := run(*configPath, *tenantID, *port, *exitWithParent); err != nil {
		slog.Error("orderdesk-oidc stopped", "error", err)
		os.Exit(1)
	}
}

func run(configPath, tenantID string, port int, exitWithParent bool) error {
	if configPath == "" {
		return errors.New("--config is required")
	}
	if _, err := uuid.Parse(tenantID); err != nil {
		return fmt.Errorf("--tenant %q is not a GUID", tenantID)
	}
	// Fail at start, not at the first sign-in, when the file is wrong.
	if _, err := LoadConfig(configPath, tenantID); err != nil {
		return err
	}
	// Listen before building the issuer, so --port 0 gets a port the issuer can name.
	listener, err := net.Listen("tcp", net.JoinHostPort(listenHost, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	base := "http://" + listener.Addr().String()
	handler, issuer, err := newHandler(base, configPath, tenantID)
	if err != nil {
		listener.Close()
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if exitWithParent {
		go watchParent(ctx, stop)
	}
	server := &http.Server{Handler: logRequests(handler), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	slog.Info("serving", "issuer", issuer, "discovery", issuer+oidc.DiscoveryEndpoint)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	slog.Info("stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return err
	}
	slog.Info("stopped")
	return nil
}

// newHandler lays out Entra's v2.0 paths for one tenant:
//
//	/<tenant>/v2.0/.well-known/openid-configuration   discovery (the issuer is /<tenant>/v2.0)
//	/<tenant>/oauth2/v2.0/authorize, /token, /logout  authorize, token, end_session
//	/<tenant>/discovery/v2.0/keys                     JWKS
//	/oidc/userinfo                                    userinfo (Entra's is on Microsoft Graph)
func newHandler(base, configPath, tenantID string) (http.Handler, string, error) {
	issuer := base + "/" + tenantID + "/v2.0"
	at := func(path string) *op.Endpoint { return op.NewEndpointWithURL(path, base+path) }
	endpoints := op.Endpoints{
		Authorization: at("/" + tenantID + "/oauth2/v2.0/authorize"),
		Token:         at("/" + tenantID + "/oauth2/v2.0/token"),
		EndSession:    at("/" + tenantID + "/oauth2/v2.0/logout"),
		JwksURI:       at("/" + tenantID + "/discovery/v2.0/keys"),
		Userinfo:      at("/oidc/userinfo"),
	}
	storage, err := NewStorage(configPath, tenantID)
	if err != nil {
		return nil, "", err
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, "", err
	}
	config := &op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: signedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		// Advertised because Entra accepts assertions; entraServer.VerifyClient checks them.
		AuthMethodPrivateKeyJWT: true,
	}
	provider, err := op.NewProvider(config, storage, op.StaticIssuer(issuer),
		// The op package refuses http issuers unless told; this one listens on 127.0.0.1 only.
		op.WithAllowInsecure(),
		op.WithCustomAuthEndpoint(endpoints.Authorization),
		op.WithCustomTokenEndpoint(endpoints.Token),
		op.WithCustomEndSessionEndpoint(endpoints.EndSession),
		op.WithCustomKeysEndpoint(endpoints.JwksURI),
		op.WithCustomUserinfoEndpoint(endpoints.Userinfo),
	)
	if err != nil {
		return nil, "", err
	}
	server := &entraServer{
		LegacyServer:  op.NewLegacyServer(provider, endpoints),
		storage:       storage,
		tokenEndpoint: endpoints.Token.Absolute(issuer),
	}
	protocol := op.RegisterLegacyServer(server, op.AuthorizeCallbackHandler(provider))

	mux := http.NewServeMux()
	// Entra publishes discovery under the issuer; the op package serves it at its root.
	mux.HandleFunc("/"+tenantID+"/v2.0"+oidc.DiscoveryEndpoint, func(w http.ResponseWriter, r *http.Request) {
		rooted := r.Clone(r.Context())
		rooted.URL.Path, rooted.URL.RawPath = oidc.DiscoveryEndpoint, ""
		protocol.ServeHTTP(w, rooted)
	})
	mux.Handle(oidc.DiscoveryEndpoint, http.NotFoundHandler())
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux.Handle(loginPath, interceptor.Handler(&login{storage: storage, callback: server.AuthCallbackURL()}))
	mux.HandleFunc(signedOutPath, signedOut)
	mux.Handle("/", protocol)
	return mux, issuer, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// logRequests logs method, path and status; never the query or body (codes, tokens, passwords).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		started := time.Now()
		next.ServeHTTP(recorder, r)
		slog.Info("request", "method", r.Method, "path", r.URL.Path, "status", recorder.status,
			"duration", time.Since(started).Round(time.Microsecond))
	})
}

// watchParent ends the provider when its parent goes (a test runner killed mid-run), so no
// provider outlives the run that started it.
func watchParent(ctx context.Context, stop context.CancelFunc) {
	parent := os.Getppid()
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if os.Getppid() != parent {
				slog.Info("parent process ended")
				stop()
				return
			}
		}
	}
}
