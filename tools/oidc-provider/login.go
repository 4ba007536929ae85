package main

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
)

// The sign-in page a browser (and Playwright) fills in at the authorize step.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to your account</title>
<style>
body { font-family: system-ui, sans-serif; background: #f2f2f2; margin: 0; }
main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem; box-shadow: 0 2px 6px rgba(0,0,0,.2); }
label { display: block; margin-top: 1rem; }
input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
button { margin-top: 1.5rem; padding: .5rem 2rem; font-size: 1rem; background: #0067b8; color: #fff; border: 0; }
.error { color: #a80000; }
</style>
</head>
<body>
<main>
<h1>Sign in</h1>
<p>Orderdesk local identity provider (tenant {{.TenantID}})</p>
{{if .Error}}<p class="error" role="alert" id="login-error">{{.Error}}</p>{{end}}
<form method="post" action="` + loginPath + `">
<input type="hidden" name="authRequestID" value="{{.RequestID}}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`))

var signedOutPage = template.Must(template.New("signed-out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><main><h1>You signed out of your account</h1><p>It's a good idea to close all browser windows.</p></main></body>
</html>
`))

type loginData struct {
	TenantID  string
	RequestID string
	Username  string
	Error     string
}

type login struct {
	storage  *Storage
	callback func(context.Context, string) string
}

func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("authRequestID")
		hint, ok := l.storage.loginHint(id)
		if !ok {
			l.render(w, http.StatusBadRequest, loginData{Error: "This sign-in request is unknown or finished. Start again from the app."})
			return
		}
		l.render(w, http.StatusOK, loginData{RequestID: id, Username: hint})
	case http.MethodPost:
		id := r.PostFormValue("authRequestID")
		username := r.PostFormValue("username")
		err := l.storage.CheckLogin(id, username, r.PostFormValue("password"))
		switch {
		case err == nil:
			slog.Info("signed in", "username", username)
			http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
		case errors.Is(err, errBadCredentials):
			slog.Info("sign-in refused: wrong username or password", "username", username)
			// Entra answers the page again with the message; no code reaches the app.
			l.render(w, http.StatusOK, loginData{RequestID: id, Username: username,
				Error: "Your account or password is incorrect."})
		case errors.Is(err, errUnknownRequest):
			l.render(w, http.StatusBadRequest, loginData{Error: "This sign-in request is unknown or finished. Start again from the app."})
		default:
			slog.Error("sign-in failed", "error", err)
			l.render(w, http.StatusInternalServerError, loginData{RequestID: id, Username: username,
				Error: "The identity provider cannot read its configuration; see its log."})
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (l *login) render(w http.ResponseWriter, status int, data loginData) {
	data.TenantID = l.storage.tenantID
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := loginPage.Execute(w, data); err != nil {
		slog.Error("rendering the login page", "error", err)
	}
}

func signedOut(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := signedOutPage.Execute(w, nil); err != nil {
		slog.Error("rendering the signed-out page", "error", err)
	}
}
