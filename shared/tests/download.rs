//! Downloading pretrained weights, against a local HTTP server on 127.0.0.1 (tests never
//! touch the internet).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::common::temp_dir;
use sha2::{Digest, Sha256};
use shared::weights::download::{DownloadError, Progress, fetch};

/// What the server does with a request, given the `Range` start it asked for.
#[derive(Clone, Copy)]
enum Serve {
    /// Sends the first half of the body, then drops the connection.
    HalfThenHang,
    /// Honours `Range` with a 206.
    Properly,
}

/// Serves `body` on 127.0.0.1, one behaviour per connection, and records the requested
/// ranges. Returns the base URL.
fn server(body: Vec<u8>, plan: Vec<Serve>) -> (String, Arc<Mutex<Vec<Option<u64>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        for (stream, serve) in listener.incoming().zip(plan) {
            let mut stream = stream.unwrap();
            let mut range = None;
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = value.trim().trim_end_matches('-').parse::<u64>().ok();
                }
            }
            seen.lock().unwrap().push(range);
            let start = range.unwrap_or(0) as usize;
            let (status, rest) = match serve {
                Serve::HalfThenHang => ("200 OK", &body[..]),
                Serve::Properly if start > 0 => ("206 Partial Content", &body[start..]),
                Serve::Properly => ("200 OK", &body[..]),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                rest.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            let sent = match serve {
                Serve::HalfThenHang => rest.len() / 2,
                Serve::Properly => rest.len(),
            };
            stream.write_all(&rest[..sent]).unwrap();
        }
    });
    (url, ranges)
}

fn weights_like(len: usize) -> (Vec<u8>, String) {
    let body: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let hash: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (body, hash[..8].to_string())
}

#[test]
fn interrupted_download_resumes_verifies_and_is_cached() {
    let (body, prefix) = weights_like(300_000);
    let (base, ranges) = server(body.clone(), vec![Serve::HalfThenHang, Serve::Properly]);
    let url = format!("{base}/models/resnet50-{prefix}.pth");
    let cache = temp_dir("download");

    // First try: the connection drops halfway; the partial file stays for the next run and
    // nothing is in place under the final name.
    let err = fetch(&url, &cache, |_| {}).unwrap_err();
    assert!(matches!(err, DownloadError::Http { .. }), "{err}");
    let part = cache.join(format!("resnet50-{prefix}.pth.part"));
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < body.len() as u64);
    assert!(!cache.join(format!("resnet50-{prefix}.pth")).exists());

    // Second try: asks only for the rest, reports progress up to the full size.
    let mut updates = Vec::new();
    let path = fetch(&url, &cache, |p: Progress| updates.push(p)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(ranges.lock().unwrap().as_slice(), [None, Some(kept)]);
    let last = updates.last().unwrap();
    assert_eq!(
        (last.done, last.total),
        (body.len() as u64, Some(body.len() as u64))
    );
    assert!(!part.exists());

    // Third: served from the cache, no request made (the server would refuse one).
    assert_eq!(fetch(&url, &cache, |_| {}).unwrap(), path);
    assert_eq!(ranges.lock().unwrap().len(), 2);
}

#[test]
fn corrupt_download_is_refused_and_removed() {
    let (body, _) = weights_like(10_000);
    let (base, _) = server(body, vec![Serve::Properly]);
    let url = format!("{base}/resnet18-deadbeef.pth");
    let cache = temp_dir("corrupt");
    let err = fetch(&url, &cache, |_| {}).unwrap_err();
    assert!(matches!(err, DownloadError::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("does not start with deadbeef"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&*cache).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn http_errors_name_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/resnet50-0676ba61.pth",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let err = fetch(&url, &temp_dir("404"), |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("{url}: server answered HTTP 404"));
}
