// Command wxsim serves the simulated WeChat Official Account API of package
// connector/wxsim on a TCP address, for the demo, scripts and benchmarks.
//
// The first line it prints on stderr is "wxsim listening on http://ADDR"
// (with the port actually bound when -addr ends in :0); -addr-file also
// writes ADDR to a file once listening. SIGINT or SIGTERM shut it down
// gracefully. Run "wxsim -h" for the flags; every default comes from
// wxsim.DefaultOptions.
package main
