from microcred_review.bootstrap import build_app
from microcred_review.settings import ReviewSettings
from microcred_shared.entrypoint import serve

if __name__ == "__main__":
    serve(ReviewSettings(), build_app)
