// Package push owns WeChat's message-push protocol (服务器配置 / 消息推送): what
// a receiver of an Official Account's push URL must check, decrypt and parse
// before it may believe a follow event, and what a sender (the simulator,
// tests) must produce for a receiver to accept it.
//
// What it owns:
//   - the GET verification of the push URL ([Verifier.VerifyURL]);
//   - the three modes (plaintext, compatible, safe), accepted at any time:
//     the mode is read from each request (encrypt_type, msg_signature, the
//     <Encrypt> element), never configured;
//   - signatures (sha1 over the sorted token, timestamp, nonce and, in the
//     encrypted modes, the ciphertext), compared in constant time, and the
//     replay window on the signed timestamp;
//   - AES-256-CBC with the EncodingAESKey (and the previous one while it is
//     rotated), strict PKCS#7 with block 32, the length fields and the appid
//     tail ([Key]);
//   - decoding the pushed XML into a [Message] whose follow events
//     (subscribe, unsubscribe, SCAN) keep their fields and whose other push
//     types keep only their type names (their content may be a user's
//     message), and the identity retries share ([Message.ID]);
//   - rejections typed by [Reason], so a receiver counts them and answers a
//     clear 4xx ([Error.HTTPStatus]);
//   - a third-party platform's authorisation events ([Verifier.OpenComponent]:
//     the component_verify_ticket push and the authorisation changes);
//   - the sending side: [Key.Encrypt], [Seal] and [EncodeEvent], and
//     [EncodeVerifyTicket] with [Sender.SealComponent].
//
// What it must not touch: it knows nothing of ClickHouse, the host, plugins,
// acknowledgements or HTTP serving (a receiver owns its listener, its
// answers and its deduplication store). It keeps no global state, reads no
// environment and starts no goroutines. No secret (the token, an
// EncodingAESKey or the AES key) ever appears in an error string.
package push
