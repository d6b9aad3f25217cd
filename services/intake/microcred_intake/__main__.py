from microcred_intake.bootstrap import build_app
from microcred_intake.settings import IntakeSettings
from microcred_shared.entrypoint import serve

if __name__ == "__main__":
    serve(IntakeSettings(), build_app)
