// Command wxsync is the host: it launches the WeChat source plugin, feeds
// the record batches it sends into ClickHouse and saves each stream's cursor
// there once the rows before it are committed.
//
// Exit codes, for schedulers: 0 done; 75 stopped early on a temporary
// condition with the cursor saved (retry later); 78 configuration or
// permission error (fix it first); 2 usage; 1 anything else.
package main
