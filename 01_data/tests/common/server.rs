//! A loopback HTTP/1.1 server for download tests: it serves one canned response per
//! request, counts requests, and stops by itself (when dropped, or after 60 s).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the server answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this body and its Content-Length.
    Ok(Vec<u8>),
    /// This status with a short body.
    Status(u16),
    /// 200 announcing the full length, then only the first `sent` bytes, then a close.
    Drop { body: Vec<u8>, sent: usize },
    /// 200 announcing the full length, the first `sent` bytes, silence for `pause`, then
    /// the rest: a client without a read timeout succeeds, late.
    Stall {
        body: Vec<u8>,
        sent: usize,
        pause: Duration,
    },
}

pub struct Server {
    pub url: String,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on 127.0.0.1 (a free port) answering every request with `reply`.
    pub fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/mnist.pkl.gz", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, reply, stop) = (requests.clone(), reply.clone(), stop.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                // Bounded: at most 100 connections, and never past the deadline.
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && served < 100 {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            requests.fetch_add(1, Ordering::SeqCst);
                            let reply = reply.lock().unwrap().clone();
                            let _ = serve(stream, &reply);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Self {
            url,
            requests,
            reply,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Changes the answer for later requests.
    pub fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, reply: &Reply) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    // Read the request head up to its blank line; the body (there is none) is ignored.
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut stream = stream;
    match reply {
        Reply::Ok(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(body)?;
        }
        Reply::Status(status) => {
            let body = b"not here";
            write!(
                stream,
                "HTTP/1.1 {status} Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(body)?;
        }
        Reply::Drop { body, sent } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..*sent])?;
        }
        Reply::Stall { body, sent, pause } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..*sent])?;
            stream.flush()?;
            thread::sleep(*pause);
            stream.write_all(&body[*sent..])?;
        }
    }
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}
