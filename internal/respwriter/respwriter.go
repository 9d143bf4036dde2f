// Package respwriter wraps an http.ResponseWriter to record the status and
// the number of bytes written, keeping Unwrap for http.ResponseController.
package respwriter

import "net/http"

// Writer records the status code and body size written through it.
type Writer struct {
	http.ResponseWriter
	status  int
	written int64
}

// Wrap returns w wrapped. Reuse of Writer values is the caller's business;
// the zero status means nothing was written yet.
func Wrap(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// WriteHeader records the status and forwards it once.
func (w *Writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and the bytes written.
func (w *Writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Status returns the status written, or 200 if the handler wrote nothing.
func (w *Writer) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Written returns the number of body bytes written.
func (w *Writer) Written() int64 { return w.written }

// Unwrap returns the wrapped writer for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the wrapped writer when it can flush.
func (w *Writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
