async fn serve(mut rep: ferromq::Rep) {
    let request = rep.recv_async().await.unwrap();
    let _next = rep.recv_async();
    let _ = request.reply_async("late").await;
}

fn main() {
    let ctx = ferromq::Context::new();
    drop(serve(ctx.rep().unwrap()));
}
