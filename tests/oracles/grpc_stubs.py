"""Python stubs generated from Triad's .proto files with grpcio-tools, for the service tests.

Usage: `pb, rpc = grpc_stubs.load(PROTO_DIR, "trainer")` → (trainer_pb2, trainer_pb2_grpc);
`check_health_and_reflection(channel, "triad.v1.Trainer")` returns the reflected services.
"""
import importlib
import sys
import tempfile

from grpc_tools import protoc


def load(proto_dir, service):
    gen = tempfile.mkdtemp()
    for f in ("common", "results", service):
        rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={gen}", f"--grpc_python_out={gen}",
                          f"{proto_dir}/triad/v1/{f}.proto"])
        assert rc == 0, f"protoc failed on {f}.proto"
    sys.path.insert(0, gen)
    return (importlib.import_module(f"triad.v1.{service}_pb2"),
            importlib.import_module(f"triad.v1.{service}_pb2_grpc"))


def check_health_and_reflection(channel, service):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    assert health.status == health_pb2.HealthCheckResponse.SERVING, health
    services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert service in services, services
    # Each binary advertises its own service only, though both are in the descriptor set.
    assert not [s for s in services if s.startswith("triad.") and s != service], services
    return sorted(services)
