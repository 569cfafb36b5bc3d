// Command wxsync-source-wechat is the WeChat source plugin. The wxsync host
// launches it through hashicorp/go-plugin; run by hand it says so and exits.
//
// It logs JSON lines in go-plugin's format on stderr, which the host
// re-levels and prints with its own log lines.
package main
