#include "app.hpp"

int main(int argc, char** argv) {
    return dataflow::cli::run(argc, argv);
}
