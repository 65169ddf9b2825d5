//! Downloads against a loopback HTTP server the test starts: success, cache reuse, 404,
//! a connection dropped mid-body, a wrong checksum, a corrupt cache replaced. After every
//! failure nothing is at the cache path and no temporary file is left in the cache.

mod common;

use std::path::Path;
use std::time::Duration;

use common::fixture;
use common::server::{Reply, Server};
use matmul_data::{Download, DownloadError, Mnist, MnistError};

fn md5_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), "f", bytes);
    matmul_data::mnist::download::md5_file(path).unwrap()
}

fn the_file() -> Vec<u8> {
    std::fs::read(fixture("mnist_py2.pkl.gz")).unwrap()
}

fn download(server: &Server, md5: &str, dir: &Path) -> Download {
    let mut download = Download::mnist()
        .url(&server.url)
        .md5(md5)
        .dir(dir)
        .progress(false);
    download.connect_timeout = Duration::from_secs(5);
    download.read_timeout = Duration::from_secs(5);
    download
}

/// The cache directory holds exactly `names` (no partial or temporary files).
fn assert_dir_holds(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, names, "files in the cache directory");
}

#[test]
fn downloads_verifies_caches_and_reuses() {
    let body = the_file();
    let server = Server::start(Reply::Ok(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache"); // created by fetch
    let download = download(&server, &md5_of(&body), &cache);

    let path = download.fetch().unwrap();
    assert_eq!(path, cache.join("mnist.pkl.gz"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(server.requests(), 1);
    assert_dir_holds(&cache, &["mnist.pkl.gz"]);

    // A second fetch (and a load) reuse the verified cache: no new request.
    download.fetch().unwrap();
    let mnist = Mnist::load_cached(&download).unwrap();
    assert_eq!(
        mnist,
        Mnist::from_pickle_gz(fixture("mnist_py2.pkl.gz")).unwrap()
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_404_leaves_nothing() {
    let server = Server::start(Reply::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let error = download(&server, &md5_of(&the_file()), dir.path())
        .fetch()
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::Status { status: 404, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTTP 404"), "{error}");
    assert!(error.to_string().contains(&server.url), "{error}");
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn a_connection_dropped_mid_body_leaves_nothing() {
    let body = the_file();
    let server = Server::start(Reply::Drop {
        body: body.clone(),
        sent: body.len() / 2,
    });
    let dir = tempfile::tempdir().unwrap();
    let error = download(&server, &md5_of(&body), dir.path())
        .fetch()
        .unwrap_err();
    assert!(matches!(error, DownloadError::Body { .. }), "{error:?}");
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn a_stalled_body_times_out_and_leaves_nothing() {
    let body = the_file();
    let pause = Duration::from_secs(2);
    let server = Server::start(Reply::Stall {
        body: body.clone(),
        sent: 100,
        pause,
    });
    let dir = tempfile::tempdir().unwrap();
    let mut download = download(&server, &md5_of(&body), dir.path());
    download.read_timeout = Duration::from_millis(200);
    let start = std::time::Instant::now();
    let error = download.fetch().unwrap_err();
    assert!(
        start.elapsed() < pause,
        "gave up after {:?}, not on the read timeout",
        start.elapsed()
    );
    assert!(
        matches!(error, DownloadError::Body { received: 100, .. }),
        "{error:?}"
    );
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn a_wrong_checksum_leaves_nothing() {
    let body = the_file();
    let server = Server::start(Reply::Ok(body));
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0123456789abcdef0123456789abcdef";
    let error = download(&server, wrong, dir.path()).fetch().unwrap_err();
    assert!(matches!(error, DownloadError::Checksum { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("expected MD5 0123456789abcdef0123456789abcdef, found"),
        "{error}"
    );
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn the_published_size_is_checked_too() {
    // The published MD5 and size, but a server with another file: rejected on size.
    let server = Server::start(Reply::Ok(the_file()));
    let dir = tempfile::tempdir().unwrap();
    let mut download = Download::mnist()
        .url(&server.url)
        .dir(dir.path())
        .progress(false);
    download.connect_timeout = Duration::from_secs(5);
    let error = download.fetch().unwrap_err();
    assert!(
        matches!(
            error,
            DownloadError::Size {
                expected: 17_051_982,
                ..
            }
        ),
        "{error:?}"
    );
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn a_corrupt_cache_is_fetched_again() {
    let body = the_file();
    let server = Server::start(Reply::Ok(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let download = download(&server, &md5_of(&body), dir.path());
    std::fs::write(download.path(), b"half a file").unwrap();

    let path = download.fetch().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(server.requests(), 1);

    // Corrupt again, and this time the server fails: the bad copy is gone, not kept.
    std::fs::write(download.path(), b"half a file").unwrap();
    server.set_reply(Reply::Status(500));
    let error = download.fetch().unwrap_err();
    assert!(
        matches!(error, DownloadError::Status { status: 500, .. }),
        "{error:?}"
    );
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn mirrors_are_tried_in_order() {
    let body = the_file();
    let broken = Server::start(Reply::Status(404));
    let good = Server::start(Reply::Ok(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut download = download(&good, &md5_of(&body), dir.path());
    download.urls = vec![broken.url.clone(), good.url.clone()];
    download.fetch().unwrap();
    assert_eq!((broken.requests(), good.requests()), (1, 1));

    // When all fail, the error lists each.
    let dir = tempfile::tempdir().unwrap();
    download.dir = dir.path().to_owned();
    download.urls = vec![
        broken.url.clone(),
        "http://127.0.0.1:1/nothing-listens-here".into(),
    ];
    let error = download.fetch().unwrap_err();
    assert!(
        matches!(&error, DownloadError::AllFailed { attempts, .. } if attempts.len() == 2),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTTP 404"), "{error}");
    assert_dir_holds(dir.path(), &[]);
}

#[test]
fn a_malformed_checksum_is_rejected_before_any_request() {
    let server = Server::start(Reply::Ok(the_file()));
    let dir = tempfile::tempdir().unwrap();
    let error = download(&server, "not-a-checksum", dir.path())
        .fetch()
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::BadChecksum { .. }),
        "{error:?}"
    );
    assert_eq!(server.requests(), 0);
}

#[test]
fn download_errors_reach_the_loader_as_mnist_errors() {
    let server = Server::start(Reply::Status(404));
    let dir = tempfile::tempdir().unwrap();
    let error =
        Mnist::load_cached(&download(&server, &md5_of(&the_file()), dir.path())).unwrap_err();
    assert!(
        matches!(
            error,
            MnistError::Download(DownloadError::Status { status: 404, .. })
        ),
        "{error:?}"
    );
}
