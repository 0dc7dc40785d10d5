async fn ask(mut req: ferromq::Req) {
    let _reply = req.recv_async().await;
}

fn main() {
    let ctx = ferromq::Context::new();
    drop(ask(ctx.req().unwrap()));
}
