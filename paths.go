package gatehouse

import (
	"net/http"
	"path"
	"strings"
)

// CleanPath reports whether the escaped path p (r.URL.EscapedPath()) is one
// that http.ServeMux serves without redirecting and that names its
// segments plainly: it starts with '/', has no empty ("//"), "." or ".."
// segment and no encoded '/' ("%2F"), which ServeMux keeps inside a segment
// so that no pattern matches it.
func CleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if i := strings.IndexByte(p, '%'); i >= 0 && strings.Contains(strings.ToUpper(p[i:]), "%2F") {
		return false
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np == p
}

var errPathNotFound = NewError(http.StatusNotFound, MsgNotFound)

// StrictPaths answers 404 "Not found" in the JSON error shape to a request
// whose escaped path is not [CleanPath] ("/admin//orgs", "/admin/./orgs",
// "/admin%2forgs/…"), instead of the 307 redirect with an HTML body or the
// plain-text 404 that http.ServeMux would give, and passes every other
// request to next. Put it in front of a ServeMux that mounts library
// handlers under a prefix.
func StrictPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !CleanPath(r.URL.EscapedPath()) {
			WriteError(w, r, nil, errPathNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}
