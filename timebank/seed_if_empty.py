"""`python -m timebank.seed_if_empty`: load the demo data when the database has no users yet."""

from sqlalchemy import func, select

from timebank import create_app
from timebank.extensions import db
from timebank.models import User
from timebank.services import demo


def main() -> None:
    app = create_app()
    with app.app_context():
        if db.session.scalar(select(func.count(User.id))):
            print("database has data; demo data not loaded")
            return
        print(demo.seed())


if __name__ == "__main__":
    main()
