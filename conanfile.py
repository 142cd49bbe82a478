# SPDX-License-Identifier: MIT
# Conan 2 recipe for herald (header-only). From a clone:
#   conan create . -o herald/*:with_sqlite=True
# scripts/check-packaging runs the CMake configure and install of `package()`
# with plain CMake in CI (Conan itself cannot be installed there).
from conan import ConanFile
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, rmdir


class HeraldConan(ConanFile):
    name = "herald"
    version = "0.1.0"
    license = "MIT"
    url = "https://github.com/herald-events/herald"
    description = ("Header-only C++20 event-driven building blocks: event bus, content "
                   "routing, topics, durable queues")
    topics = ("events", "messaging", "event-bus", "queue", "cloudevents", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"with_sqlite": [True, False], "with_postgres": [True, False],
               "with_nats": [True, False]}
    default_options = {"with_sqlite": True, "with_postgres": False, "with_nats": False}
    exports_sources = "CMakeLists.txt", "cmake/*", "include/*", "LICENSE"
    no_copy_source = True

    # herald options: begin (scripts/check-packaging reads these lines)
    cmake_variables = {
        "HERALD_BUILD_TESTS": "OFF",
        "HERALD_BUILD_EXAMPLES": "OFF",
        "HERALD_BUILD_BENCHMARKS": "OFF",
        "HERALD_INSTALL": "ON",
    }
    # herald options: end

    def requirements(self):
        self.requires("fmt/[>=9 <11]")
        self.requires("nlohmann_json/[>=3.10 <4]")
        if self.options.with_sqlite:
            self.requires("sqlite3/[>=3.35 <4]")
        if self.options.with_postgres:
            self.requires("libpq/[>=14]")
        if self.options.with_nats:
            self.requires("cnats/[>=3.3 <4]")

    def layout(self):
        cmake_layout(self)

    def generate(self):
        toolchain = CMakeToolchain(self)
        for name, value in self.cmake_variables.items():
            toolchain.variables[name] = value
        toolchain.variables["HERALD_WITH_SQLITE"] = "ON" if self.options.with_sqlite else "OFF"
        toolchain.variables["HERALD_WITH_POSTGRES"] = "ON" if self.options.with_postgres else "OFF"
        toolchain.variables["HERALD_WITH_NATS"] = "ON" if self.options.with_nats else "OFF"
        toolchain.generate()
        CMakeDeps(self).generate()

    def package(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.install()
        copy(self, "LICENSE", self.source_folder, self.package_folder + "/licenses")
        # Consumers get the config CMakeDeps writes from package_info(), not ours.
        rmdir(self, self.package_folder + "/share")

    def package_id(self):
        self.info.settings.clear()  # header-only: only the backends chosen matter

    def package_info(self):
        # The same targets as herald's own CMake package: herald::herald, herald::sqlite,
        # herald::postgres, herald::nats.
        self.cpp_info.set_property("cmake_file_name", "herald")
        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "herald::herald")
        core.requires = ["fmt::fmt", "nlohmann_json::nlohmann_json"]
        core.system_libs = ["pthread"] if self.settings.os in ("Linux", "FreeBSD") else []
        core.bindirs = []
        core.libdirs = []
        if self.options.with_sqlite:
            sqlite = self.cpp_info.components["sqlite"]
            sqlite.set_property("cmake_target_name", "herald::sqlite")
            sqlite.requires = ["core", "sqlite3::sqlite3"]
            sqlite.bindirs = []
            sqlite.libdirs = []
        if self.options.with_postgres:
            postgres = self.cpp_info.components["postgres"]
            postgres.set_property("cmake_target_name", "herald::postgres")
            postgres.requires = ["core", "libpq::libpq"]
            postgres.bindirs = []
            postgres.libdirs = []
        if self.options.with_nats:
            nats = self.cpp_info.components["nats"]
            nats.set_property("cmake_target_name", "herald::nats")
            nats.requires = ["core", "cnats::cnats"]
            nats.bindirs = []
            nats.libdirs = []
