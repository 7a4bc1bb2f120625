//! A fake HTTP server on loopback, for what a real registry cannot be made
//! to do (lie about digests, loop its links, answer only some requests).

use std::io::{BufRead, BufReader, Write};

/// Serves until the test process ends: each request's head (request line
/// and headers) goes to `answer`, which gives the status line's end with
/// any headers, and the body; the connection is closed after each answer.
/// Returns the server's URL.
pub fn fake_http(answer: impl Fn(&str) -> (String, Vec<u8>) + Send + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut line = String::from("-");
            while line.trim_end() != "" {
                line.clear();
                reader.read_line(&mut line).unwrap();
                request.push_str(&line);
            }
            let (head, body) = answer(&request);
            let head = format!("HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let body = if request.starts_with("HEAD") { &[][..] } else { &body[..] };
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
        }
    });
    url
}

/// The path (and query) of a request head's request line.
pub fn request_path(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or_default()
}
