// A Go web app as people write one: a chi router, its module vendored (`go mod vendor`) so
// that it builds without the network, listening on $PORT.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"

	"github.com/go-chi/chi/v5"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Hello from Go and a vendored chi router")
	})
	r.Get("/hello/{name}", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "Hello, %s!\n", chi.URLParam(req, "name"))
	})
	r.Get("/version", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, runtime.Version())
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, r))
}
