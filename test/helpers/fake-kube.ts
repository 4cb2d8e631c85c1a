// The fake Lease API server lives in the package now (loopgroup/testing); the
// project's tests import it from here, as they always have.
export {
  FakeKubeApi,
  type PortFaults,
  type RecordedEvent,
  type SeenRequest,
  type Write,
} from "../../src/testing.js";
