//! Print how many bytes the future of one client connection occupies.
//!
//! Tokio allocates each spawned task with room for its future's largest
//! state, so this is a floor under the resident memory of every client,
//! idle or not (the load bench's idle phase measures the whole of it).
//! Nothing is polled: the future is only built and measured.
//!
//! Usage: `cargo run -p sluice-benches --bin tasksize`

use std::process::ExitCode;

use sluice_core::client::serve;
use sluice_core::stream::Stream;
use sluice_core::{Settings, Shared};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match measure().await {
        Ok(bytes) => {
            println!("client::serve future: {bytes} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tasksize: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn measure() -> std::io::Result<usize> {
    // A real accepted socket, on loopback, closed again right away.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let _peer = TcpStream::connect(listener.local_addr()?).await?;
    let (socket, _) = listener.accept().await?;
    let shared =
        Shared::new(Settings::new(Default::default(), Default::default()).expect("settings"));
    let future = serve(Stream::Tcp(socket), shared);
    Ok(std::mem::size_of_val(&future))
}
