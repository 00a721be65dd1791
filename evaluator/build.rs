fn main() {
    triad_build::link_libtorch();
}
