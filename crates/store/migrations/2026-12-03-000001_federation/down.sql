DROP TABLE foreign_sessions;
DROP TABLE challenges;
