async fn ask(mut req: ferromq::Req) {
    let first = req.send_async("one").await.unwrap();
    let _second = req.send_async("two");
    let _ = first.recv_async().await;
}

fn main() {
    let ctx = ferromq::Context::new();
    drop(ask(ctx.req().unwrap()));
}
