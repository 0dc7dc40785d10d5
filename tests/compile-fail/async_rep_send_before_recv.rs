async fn serve(mut rep: ferromq::Rep) {
    let _ = rep.send_async("reply to nobody").await;
}

fn main() {
    let ctx = ferromq::Context::new();
    drop(serve(ctx.rep().unwrap()));
}
