package discovery_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/org/macula/discovery"
)

// A runner polls a fixed seed list and a Consul catalog (here a stand-in
// HTTP server with one healthy and one failing instance) and reports what
// each source found.
func ExampleNewRunner() {
	consulAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[
			{"Node": {"Address": "10.0.0.7"}, "Service": {"Port": 4433}, "Checks": [{"Status": "passing"}]},
			{"Node": {"Address": "10.0.0.8"}, "Service": {"Port": 4433}, "Checks": [{"Status": "critical"}]}
		]`)
	}))
	defer consulAPI.Close()
	consul, err := discovery.Consul(discovery.ConsulConfig{Addr: consulAPI.URL})
	if err != nil {
		fmt.Println(err)
		return
	}

	found := make(chan string, 2)
	r, err := discovery.NewRunner(discovery.RunnerConfig{
		Sources: []discovery.Source{
			discovery.Static("seed.example.org:4433", "seed.example.org:4433", "10.0.0.9:4433"),
			consul,
		},
		OnAddrs: func(source string, addrs []string) {
			select {
			case found <- fmt.Sprint(source, " ", addrs):
			default: // later polls (10 s on) are not needed here
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Start()
	defer r.Close()
	results := []string{<-found, <-found}
	slices.Sort(results) // the sources are polled concurrently
	for _, s := range results {
		fmt.Println(s)
	}
	// Output:
	// consul:macula [10.0.0.7:4433]
	// static [10.0.0.9:4433 seed.example.org:4433]
}
